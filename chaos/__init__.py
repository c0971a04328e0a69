"""sentinel-chaos: fault injection (L4 Toxiproxy, L3 netns), scenarios, verdict, reports, CLI.

Kept free of imports so that ``import chaos.<part>`` loads only that part.
"""
