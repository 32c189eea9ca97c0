"""Applications built on the blocks, not blocks themselves: the demo (`python -m
lamigo_gr.apps.demo`), the loopback runner and packet-error-rate sweep (`python -m
lamigo_gr.apps.loopback`), the GNU Radio Companion launcher (`python -m lamigo_gr.apps.grc`) and
the flowgraph tools they share (`lamigo_gr.apps.flowgraphs`)."""
