"""The staff console: supervisors, the work team, planners and enterprises, in the browser."""
