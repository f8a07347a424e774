"""Identity service layer (Keystone v3 semantics): users, projects, roles, tokens."""
