"""Arena tasks: A/B votes shared among people like review and rating tasks (see ``studio.service.tasks``).

An arena task's item is one prompt of a comparison (``item_id`` = the prompt's id) with the two outputs
everyone holding it votes between, fixed at creation in the order shown as A and B; a person's vote is kept
in ``task_assignments.decision`` (a | b | tie | both_bad) beside the normal ``votes`` row.
"""

SQL = """
ALTER TABLE task_items ADD COLUMN generation_a BIGINT;
ALTER TABLE task_items ADD COLUMN generation_b BIGINT;
"""
