from clinics import access, idle, selectors


def current_clinic(request) -> dict:
    """The header: the clinic in use, the others the user may switch to, and where they may go."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    clinics = selectors.clinics_of_request(request)
    return {
        "current_clinic": selectors.current_clinic(request, clinics),
        "my_clinics": clinics,
        "user_is_manager": access.holds_role(user, access.MANAGERS)
        or access.is_platform_operator(user),
        "user_uses_admin": access.admin_site_permission(request),
    }


def idle_timeout(request) -> dict:
    """The idle limit of the login, for the page's warning (config/static/fascia/idle.js)."""
    session = getattr(request, "session", None)
    if session is None or idle.IDLE_SECONDS not in session:
        return {}
    return {"idle_seconds": session[idle.IDLE_SECONDS]}
