from django.db.backends.postgresql import base as postgresql

from . import server


class DatabaseWrapper(postgresql.DatabaseWrapper):
    """PostgreSQL, connected through the embedded server's Unix socket."""

    def get_connection_params(self):
        running = server.ensure_running()
        self.settings_dict["HOST"] = str(running.socket_dir)
        self.settings_dict["PORT"] = str(running.port)
        return super().get_connection_params()
