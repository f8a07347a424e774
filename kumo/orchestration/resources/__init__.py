"""Resource plugins: one class per Heat resource type, registered by type name.

Each plugin declares its properties (``Prop``), attributes and which
properties it can change in place, and acts through kumo's service
facades with the stack creator's delegated context (``Env.ctx``).
"""
