"""Dockerfile builds (the legacy builder behind POST /build): the parser, .dockerignore, the build context and its
COPY/ADD sources, instructions as image config, the step cache, and the builder that runs the steps."""
