"""Users (admins only): accounts and roles, as ``python -m studio users`` does."""
import pandas as pd
import streamlit as st

from pages.ui import guarded
from studio.core.i18n import _
from studio.service import accounts

st.title(_("Users"))
st.caption(_("Who may use this studio and in what role: admin (accounts, everything), engineer (data, training, "
             "evaluation), reviewer (review work assigned to them), rater (rating work assigned to them). Until "
             "the first account exists the studio is single-user and serves on 127.0.0.1 only; the first "
             "account must be an admin."))

people = accounts.list_users()
if people:
    table = pd.DataFrame([{_("Name"): u["name"], _("Role"): accounts.role_label(u["role"]),
                           _("Created"): u["created_at"], _("Last sign-in"): u["last_signin"]} for u in people])
    st.dataframe(table, hide_index=True, width="stretch")
else:
    st.info(_("No accounts yet: add the first one, an admin, to require a sign-in."))

ROLE_OPTIONS = list(accounts.ROLES)

with st.expander(_("Add an account"), expanded=not people):
    name = st.text_input(_("Account name"), key="user_new_name")
    role = st.selectbox(_("Role"), ROLE_OPTIONS, format_func=accounts.role_label, key="user_new_role",
                        index=0 if not people else 1)
    password = st.text_input(_("Password (at least 8 characters)"), type="password", key="user_new_password")
    if st.button(_("Add account"), type="primary", disabled=not (name and password)):
        if guarded(accounts.add, name, role, password):
            st.success(_("Added {name}.").format(name=name))
            st.rerun()

if people:
    names = [u["name"] for u in people]
    st.subheader(_("Change an account"))
    who = st.selectbox(_("Account"), names, key="user_pick")
    col_role, col_password = st.columns(2)
    with col_role:
        current = next(u["role"] for u in people if u["name"] == who)
        new_role = st.selectbox(_("Role"), ROLE_OPTIONS, index=ROLE_OPTIONS.index(current),
                                format_func=accounts.role_label, key=f"user_role_{who}")
        if st.button(_("Change role"), disabled=new_role == current):
            if guarded(accounts.set_role, who, new_role):
                st.rerun()
    with col_password:
        new_password = st.text_input(_("New password"), type="password", key=f"user_pw_{who}")
        if st.button(_("Set password"), disabled=not new_password):
            if guarded(accounts.set_password, who, new_password):
                st.success(_("Password changed; {name}'s other sessions have ended.").format(name=who))
    col_token, col_remove = st.columns(2)
    with col_token:
        if st.button(_("New API token"), help=_("For scripts and the CLI (STUDIO_TOKEN); replaces the old one.")):
            token = guarded(accounts.new_token, who)
            if token:
                st.code(token, language=None)
                st.caption(_("Shown once: copy it now."))
    with col_remove:
        sure = st.checkbox(_("Yes, remove {name}").format(name=who), key=f"user_rm_sure_{who}")
        if st.button(_("Remove account"), disabled=not sure):
            if guarded(accounts.remove, who):
                st.rerun()
