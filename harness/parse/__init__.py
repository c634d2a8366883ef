"""The bottom layer of scenario parsing: YAML nodes that know their file:line:col (node.py)
and what a section parser may ask about the rest of the scenario (context.py). The scenario
envelope (harness/scenario) and every part's section parser build on it."""
