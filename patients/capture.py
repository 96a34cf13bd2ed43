"""What a signature records about the request it came in: the client's address (read as the
login limits read it: accounts/addresses.py) and browser."""

from accounts.addresses import client_ip

__all__ = ["USER_AGENT_LENGTH", "client_ip", "user_agent"]

USER_AGENT_LENGTH = 1000


def user_agent(request) -> str:
    return request.headers.get("User-Agent", "")[:USER_AGENT_LENGTH]
