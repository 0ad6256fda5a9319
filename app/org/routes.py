"""Routes: the caller, users (admins, planners), jurisdictions and departments."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView

from app.auth.caller import current_user, require_role
from app.http import Blueprint, check_if_match, paginate, sends_etag, takes_if_match, version_etag
from app.i18n import settle_language
from app.org import services
from app.org.schemas import (
    DepartmentSchema,
    JurisdictionSchema,
    MeSchema,
    MeUpdateSchema,
    StaffQueryArgsSchema,
    StaffSchema,
    UserCreateSchema,
    UserQueryArgsSchema,
    UserSchema,
    UserUpdateSchema,
)

blp = Blueprint("org", __name__, description="Users, jurisdictions and departments")


@blp.route("/me")
class Me(MethodView):
    @blp.response(200, MeSchema)
    def get(self) -> Any:
        """Return the caller's identity, role, scope and language."""
        return current_user()

    @blp.arguments(MeUpdateSchema)
    @blp.response(200, MeSchema)
    def patch(self, data: dict[str, Any]) -> Any:
        """Choose the language you read the API in (null: follow your browser)."""
        user = services.set_locale(current_user(), data["locale"])
        settle_language()  # this answer already speaks the new language
        return user


@blp.route("/users")
class Users(MethodView):
    @blp.arguments(UserQueryArgsSchema, location="query")
    @blp.response(200, UserSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List users (admins and planners), optionally by role."""
        require_role("admin", "planner")
        return paginate(services.list_users(args), pagination_parameters)

    @blp.arguments(UserCreateSchema)
    @blp.response(201, UserSchema)
    @sends_etag("user")
    def post(self, data: dict[str, Any]) -> Any:
        """Create a user (admins)."""
        actor = require_role("admin")
        return services.create_user(actor, data)


@blp.route("/staff")
class Staff(MethodView):
    @blp.arguments(StaffQueryArgsSchema, location="query")
    @blp.response(200, StaffSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List the staff in your scope by name, to assign and review by name (not inspectors)."""
        user = require_role(*services.DIRECTORY_ROLES)
        staff = paginate(services.staff_directory(user, args), pagination_parameters)
        return services.directory_entries(user, staff)


@blp.route("/users/<uuid:user_id>")
class UserById(MethodView):
    @blp.response(200, UserSchema)
    @sends_etag("user")
    def get(self, user_id: uuid.UUID) -> Any:
        """Return one user (admins and planners)."""
        require_role("admin", "planner")
        return services.get_user(user_id)

    @blp.arguments(UserUpdateSchema)
    @blp.response(200, UserSchema)
    @takes_if_match("user", required=False)
    def patch(self, data: dict[str, Any], user_id: uuid.UUID) -> Any:
        """Change a user, including the inspector registry fields (admins); If-Match optional."""
        actor = require_role("admin")
        user = services.get_user(user_id, lock=True)
        check_if_match(version_etag("user", user.id, user.version))
        return services.update_user(actor, user, data)


@blp.route("/jurisdictions")
class Jurisdictions(MethodView):
    @blp.response(200, JurisdictionSchema(many=True))
    def get(self) -> Any:
        """List the district and its streets/towns."""
        return services.list_jurisdictions()


@blp.route("/departments")
class Departments(MethodView):
    @blp.response(200, DepartmentSchema(many=True))
    def get(self) -> Any:
        """List the departments."""
        return services.list_departments()
