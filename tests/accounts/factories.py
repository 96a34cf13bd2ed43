import itertools

import factory
from allauth.account.models import EmailAddress

from accounts.models import User
from accounts.services import create_api_token

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@clinic.test")
    full_name = factory.Faker("name")
    password = factory.django.Password(PASSWORD)

    @factory.post_generation
    def verified_email(user, create, extracted, **kwargs):
        if create:
            EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)


_token_numbers = itertools.count(1)


def api_token_for(user: User, *, name: str | None = None, days: int | None = None) -> str:
    """A new API token of `user`, made as its owner makes one: its secret."""
    _token, secret = create_api_token(
        user=user, name=name or f"Script {next(_token_numbers)}", days=days
    )
    return secret
