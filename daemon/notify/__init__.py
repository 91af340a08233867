"""Customer notification channels (Twilio SMS/voice, console) and their delivery loop."""
