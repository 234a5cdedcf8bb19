"""Returns analytics: KPIs over incrementally maintained rollups, root-cause findings, exports,
and the Online Retail import that brings a real merchant's history in."""
