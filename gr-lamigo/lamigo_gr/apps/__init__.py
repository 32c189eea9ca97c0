"""Applications built on the blocks, not blocks themselves: the demo (`python -m
lamigo_gr.apps.demo`), the loopback runner and the SNR sweep of LaMI-GO and the classical baselines (`python -m
lamigo_gr.apps.loopback`, `lamigo_gr.apps.sweep`), the GNU Radio Companion launcher (`python -m lamigo_gr.apps.grc`) and
the flowgraph tools they share (`lamigo_gr.apps.flowgraphs`)."""
