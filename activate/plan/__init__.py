"""The Plan (what a run would do, as data), the mapping that renders rows, and the builder."""
