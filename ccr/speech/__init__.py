"""From a recording to a redacted transcript: audio decoding, Whisper transcription, redaction, talk metrics."""
