# Compute tests excluded from `bash scripts/conformance.sh compute`, each with
# why (docs/CONFORMANCE.md lists them); sourced by scripts/conformance.sh.
#
# The compute mode runs against a lab of its own (`kumo up`): servers boot on
# its hosts. Only tests of features kumo does not have are excluded here.
C='compute\.'
COMPUTE_EXCLUDE=(
  # -- features kumo does not have
  "${C}admin\.test_aggregates_negative\."                  # host aggregates (os-aggregates)
  "${C}admin\.test_instance_usage_audit_log"               # instance usage audit logs
  "${C}admin\.test_quotas\.QuotaClasses"                   # quota classes (os-quota-class-sets)
  "${C}admin\.test_server_diagnostics"                     # server diagnostics
  "${C}admin\.test_server_external_events\."               # external events (one service: none to send)
  "${C}admin\.test_simple_tenant_usage"                    # usage reports (os-simple-tenant-usage)
  # migration records: kumo resizes in place and moves no server (os-migrations is empty)
  "${C}admin\.test_migrations\.MigrationsAdminTest\.test_list_migrations_in_flavor_resize_situation"
  # the Networking API keeps a rule's prefix normalised (10.2.3.0/24 for 10.2.3.124/24)
  "${C}security_groups\.test_security_group_rules\.SecurityGroupRulesTestJSON\.test_security_group_rules_create_with_optional_cidr"
)
