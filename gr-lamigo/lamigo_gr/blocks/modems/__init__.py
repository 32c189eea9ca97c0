"""The modems: each a pair of hierarchical blocks built from GNU Radio's own blocks, with one
interface: link packet PDUs on message port `in` of the Tx half -> complex baseband; complex
baseband into the Rx half -> the packet PDUs that passed its CRC on message port `out`.
One Tx/Rx pair per file, as gr-digital keeps them."""
