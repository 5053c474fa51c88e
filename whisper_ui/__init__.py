"""whisper-ui: transcribe many audio/video files at once with faster-whisper."""

__version__ = "0.1.0"
