"""Policy: who may do what, in one table (``table.py``) read by every service.

Inputs: the caller (``RequestContext``, from token validation) and a
target (the object acted on, with the attributes of every object the
request references). Output: allow, or the API's own 403. Services hide
objects a caller may not read as not found, as Neutron and Nova do.
"""

from kumo.policy.enforce import admit, allowed, authorize, for_route, refusal, unrestricted
from kumo.policy.rules import Rule
from kumo.policy.table import RULES

__all__ = ["RULES", "Rule", "admit", "allowed", "authorize", "for_route", "refusal", "unrestricted"]
