"""Policies: organisation rules on the IR and the security baseline on the plan."""
