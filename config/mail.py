"""Django's SMTP backend, telling the sender when its e-mail is handed over and what was said.

A message may carry `before_handover`, a callable: it is called once the mail
server has accepted the sender and every recipient, just before the DATA
command, the last moment at which nothing can yet have been delivered. After
the send, the message's `server_reply` holds the server's answer to the data
("250 2.0.0 Ok: queued as 4F2B1"). aftercare/services/emails.py records both,
so an e-mail whose sender was killed half-way is sent again only when it may
not have arrived, and the record says when it may have arrived twice.
"""

import smtplib

from django.core.mail.backends import smtp


class _Answering:
    """An smtplib connection that calls the message's hook before DATA and keeps the reply."""

    before_data = None
    data_reply = ""

    def data(self, msg):
        if self.before_data is not None:
            self.before_data()
        code, reply = super().data(msg)
        self.data_reply = (
            f"{code} {reply.decode(errors='replace') if isinstance(reply, bytes) else reply}"
        )
        return code, reply


class _SMTP(_Answering, smtplib.SMTP):
    pass


class _SMTP_SSL(_Answering, smtplib.SMTP_SSL):
    pass


class EmailBackend(smtp.EmailBackend):
    @property
    def connection_class(self):
        return _SMTP_SSL if self.use_ssl else _SMTP

    def _send(self, email_message):
        self.connection.before_data = getattr(email_message, "before_handover", None)
        self.connection.data_reply = ""
        try:
            return super()._send(email_message)
        finally:
            email_message.server_reply = self.connection.data_reply
            self.connection.before_data = None
