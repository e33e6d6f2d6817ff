"""The life of a call: ingest, maintenance holds, leases, the transcribe → score steps, the queue and its workers."""
