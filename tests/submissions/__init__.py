"""Sample submissions of the nbgrader assignments: the demo class and the test catalogue."""
