"""The blocks of gr-lamigo, one per file, each a thin adapter over the core library `lamigo`
(their GRC YAML lives in the top-level `grc/`). The modems are in `lamigo_gr.blocks.modems`.
The QT GUI Link Monitor (`lamigo_gr.blocks.link_monitor`) imports PyQt5, so it is imported only
by the flowgraphs that show it."""
