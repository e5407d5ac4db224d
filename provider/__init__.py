"""The fault-injecting fake email provider: SendGrid's v3 mail send, as a FastAPI app."""
