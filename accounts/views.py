from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from rest_framework.authtoken.models import Token


@login_required
def api_token(request):
    """Make, replace or revoke the personal API token (after a full login, with MFA)."""
    token = Token.objects.filter(user=request.user).first()
    new_key = None
    if request.method == "POST":
        if token is not None:
            token.delete()
            token = None
        if request.POST.get("action") == "create":
            token = Token.objects.create(user=request.user)
            new_key = token.key
            messages.success(request, "A new API token was made. Copy it now: it is shown once.")
        else:
            messages.success(request, "Your API token was revoked.")
        if new_key is None:
            return redirect("api_token")
    return render(request, "accounts/api_token.html", {"token": token, "new_key": new_key})
