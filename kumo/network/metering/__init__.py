"""Metering: labels, their rules, and the traffic counts of each label.

``labels`` holds the label rows (create, delete, ``shared``); ``rules``
the rules of a label (direction, prefixes, ``excluded``) with Neutron's
checks; ``events`` the watch body of a label (with its rules) on the
``metering`` topic every agent follows; ``counts`` what the agents report
(per label and host) and the sums per label; ``service`` the calls the API
makes. The agent's compiler (``kumo.compiler.metering``) turns the labels
into counters on each router namespace's external side.
"""
