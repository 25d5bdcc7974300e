"""Images: the content-addressed store (configs, layers, tags), references, archives (load, save, import), the
registry client (pull, push, login), and tars that never write outside their target."""
