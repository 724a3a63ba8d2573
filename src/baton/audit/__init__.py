"""Right-size audit: are the serving servers used efficiently, and what should they be?

Inventory (what is deployed and given) + usage from Prometheus (what was used) + capacity
from the evaluation profile (what one replica can serve at the SLO) -> ``core.rightsizing``
recommendations with reasons, cost from a price table, and a terminal, JSON or HTML report.
"""
