"""Built-in scenario files (package data; ``chaos.scenario.builtins`` lists and resolves them)."""
