"""What the blocks share and none of them is: PDU conversion (`pdu`), the flowgraph's done
message (`done`) and the expiry timer of the receivers (`expiry_timer`)."""
