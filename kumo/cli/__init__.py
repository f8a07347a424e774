"""The ``kumo`` command line: serve, agent, up/down, lab, exec, status."""
