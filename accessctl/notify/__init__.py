"""Email: Jinja2 templates (built in, overridable from a folder) rendered to multipart text + HTML,
sent over one reused SMTP connection with retries (:class:`accessctl.notify.smtp.SmtpMailer`)."""
