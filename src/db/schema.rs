//! The diesel view of `migrations/*/…_foundation/up.sql` (both dialects share it).

diesel::table! {
    app_secrets (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    /// One row: the number of the last announced change (`db::changes`).
    cache_epoch (id) {
        id -> Integer,
        value -> BigInt,
    }
}

diesel::table! {
    /// Changes to what instances cache, in commit order (`db::changes`).
    cache_changes (epoch) {
        epoch -> BigInt,
        session_token_hash -> Nullable<Text>,
        announced_at -> Timestamp,
    }
}

diesel::table! {
    companies (id) {
        id -> BigInt,
        code -> Text,
        name -> Text,
        password_min_length -> Integer,
        password_require_upper -> Bool,
        password_require_lower -> Bool,
        password_require_digit -> Bool,
        password_require_symbol -> Bool,
        password_min_score -> Integer,
        password_max_age_days -> Integer,
        idle_timeout_minutes -> Integer,
        session_lifetime_hours -> Integer,
        lockout_threshold -> Integer,
        reveal_daily_cap -> Integer,
        missed_chat_minutes -> Integer,
        end_session_on_client_change -> Bool,
        created_at -> Timestamp,
        phone_region -> Text,
        default_capacity -> Integer,
        reroute_offline_minutes -> Integer,
        approve_role_raises -> Bool,
        approve_settings_changes -> Bool,
        reviews_quarterly -> Bool,
        dormant_after_days -> Integer,
        review_every_days -> Integer,
        review_due_told_on -> Nullable<Date>,
        critical_permissions -> Text,
        deactivate_dormant -> Bool,
        retention_messages_days -> Nullable<Integer>,
        retention_logins_days -> Nullable<Integer>,
        retention_sessions_days -> Nullable<Integer>,
        messages_purged_before -> Nullable<Timestamp>,
    }
}

diesel::table! {
    roles (id) {
        id -> BigInt,
        company_id -> BigInt,
        name -> Text,
        builtin -> Nullable<Text>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        teams_only -> Bool,
        require_two_factor -> Bool,
    }
}

diesel::table! {
    two_factor_recovery_codes (id) {
        id -> BigInt,
        user_id -> BigInt,
        code_hash -> Text,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    two_factor_challenges (id) {
        id -> BigInt,
        token_hash -> Text,
        company_id -> BigInt,
        user_id -> BigInt,
        ip -> Text,
        user_agent -> Text,
        next -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    role_permissions (role_id, permission) {
        role_id -> BigInt,
        permission -> Text,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        company_id -> BigInt,
        username -> Text,
        display_name -> Text,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        role_id -> BigInt,
        status -> Text,
        must_change_password -> Bool,
        password_changed_at -> Timestamp,
        failed_logins -> Integer,
        lockouts -> Integer,
        locked_until -> Nullable<Timestamp>,
        last_login_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
        time_zone -> Text,
        availability -> Text,
        availability_changed_at -> Nullable<Timestamp>,
        capacity -> Nullable<Integer>,
        last_assigned_at -> Nullable<Timestamp>,
        two_factor_secret -> Nullable<Text>,
        two_factor_pending -> Nullable<Text>,
        two_factor_last_step -> Nullable<BigInt>,
        two_factor_enabled_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    channels (id) {
        id -> BigInt,
        company_id -> BigInt,
        name -> Text,
        kind -> Text,
        active -> Bool,
        webhook_token -> Text,
        created_at -> Timestamp,
        team_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    teams (id) {
        id -> BigInt,
        company_id -> BigInt,
        name -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    team_members (team_id, user_id) {
        team_id -> BigInt,
        user_id -> BigInt,
        is_lead -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    channel_members (channel_id, user_id) {
        channel_id -> BigInt,
        user_id -> BigInt,
        created_at -> Timestamp,
        receives_new_chats -> Bool,
    }
}

diesel::table! {
    contacts (id) {
        id -> BigInt,
        company_id -> BigInt,
        name -> Text,
        phone -> Nullable<Text>,
        phone_normalized -> Nullable<Text>,
        email -> Nullable<Text>,
        created_at -> Timestamp,
        name_masked -> Nullable<Text>,
        opted_out -> Bool,
    }
}

diesel::table! {
    message_templates (id) {
        id -> BigInt,
        company_id -> BigInt,
        name -> Text,
        language -> Text,
        category -> Text,
        body -> Text,
        status -> Text,
        version -> Integer,
        previous_id -> Nullable<BigInt>,
        author_id -> BigInt,
        decided_by_id -> Nullable<BigInt>,
        decided_at -> Nullable<Timestamp>,
        reason -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    broadcasts (id) {
        id -> BigInt,
        company_id -> BigInt,
        name -> Text,
        channel_id -> BigInt,
        template_id -> BigInt,
        label -> Nullable<Text>,
        last_contact_after -> Nullable<Date>,
        status -> Text,
        created_by_id -> BigInt,
        decided_by_id -> Nullable<BigInt>,
        decided_at -> Nullable<Timestamp>,
        reason -> Nullable<Text>,
        sent_by_id -> Nullable<BigInt>,
        audience -> Integer,
        sent -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        send_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    approval_requests (id) {
        id -> BigInt,
        company_id -> BigInt,
        kind -> Text,
        subject_id -> BigInt,
        payload -> Nullable<Text>,
        permission -> Text,
        summary -> Text,
        requested_by_id -> BigInt,
        status -> Text,
        decided_by_id -> Nullable<BigInt>,
        decided_at -> Nullable<Timestamp>,
        reason -> Nullable<Text>,
        expires_at -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::table! {
    notifications (id) {
        id -> BigInt,
        company_id -> BigInt,
        user_id -> BigInt,
        kind -> Text,
        summary -> Text,
        link -> Nullable<Text>,
        created_at -> Timestamp,
        read_at -> Nullable<Timestamp>,
        emailed_at -> Nullable<Timestamp>,
        email_attempts -> Integer,
        email_not_before -> Nullable<Timestamp>,
    }
}

diesel::table! {
    broadcast_deliveries (broadcast_id, contact_id) {
        broadcast_id -> BigInt,
        contact_id -> BigInt,
        message_id -> BigInt,
    }
}

diesel::table! {
    conversations (id) {
        id -> BigInt,
        company_id -> BigInt,
        channel_id -> BigInt,
        contact_id -> BigInt,
        assignee_id -> Nullable<BigInt>,
        status -> Text,
        external_contact_id -> Nullable<Text>,
        last_message_at -> Timestamp,
        created_at -> Timestamp,
        closed_at -> Nullable<Timestamp>,
        awaiting_reply_since -> Nullable<Timestamp>,
        first_response_at -> Nullable<Timestamp>,
        first_responder_id -> Nullable<BigInt>,
        closed_by_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    conversation_labels (conversation_id, label) {
        conversation_id -> BigInt,
        company_id -> BigInt,
        label -> Text,
        label_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    labels (id) {
        id -> BigInt,
        company_id -> BigInt,
        name -> Text,
        key -> Text,
        created_at -> Timestamp,
        legal_hold -> Bool,
    }
}

diesel::table! {
    label_roles (label_id, role_id) {
        label_id -> BigInt,
        role_id -> BigInt,
    }
}

diesel::table! {
    contact_reveals (id) {
        id -> BigInt,
        company_id -> BigInt,
        user_id -> BigInt,
        contact_id -> BigInt,
        conversation_id -> BigInt,
        reason -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    messages (id) {
        id -> BigInt,
        company_id -> BigInt,
        conversation_id -> BigInt,
        channel_id -> BigInt,
        direction -> Text,
        author_id -> Nullable<BigInt>,
        body -> Text,
        external_id -> Nullable<Text>,
        delivery -> Text,
        created_at -> Timestamp,
        body_masked -> Nullable<Text>,
    }
}

diesel::table! {
    conversation_assignments (id) {
        id -> BigInt,
        conversation_id -> BigInt,
        from_user_id -> Nullable<BigInt>,
        to_user_id -> Nullable<BigInt>,
        by_user_id -> Nullable<BigInt>,
        created_at -> Timestamp,
        reason -> Nullable<Text>,
    }
}

diesel::table! {
    call_tasks (id) {
        id -> BigInt,
        company_id -> BigInt,
        channel_id -> BigInt,
        contact_id -> BigInt,
        assignee_id -> Nullable<BigInt>,
        call_status -> Text,
        duration_seconds -> Integer,
        status -> Text,
        caller_id -> Nullable<Text>,
        external_id -> Nullable<Text>,
        created_at -> Timestamp,
        completed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    sessions (id) {
        id -> BigInt,
        token_hash -> Text,
        company_id -> BigInt,
        user_id -> BigInt,
        csrf_token -> Text,
        data -> Text,
        ip -> Text,
        user_agent -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        revoked_reason -> Nullable<Text>,
    }
}

diesel::table! {
    login_events (id) {
        id -> BigInt,
        company_id -> Nullable<BigInt>,
        company_code -> Text,
        username -> Text,
        user_id -> Nullable<BigInt>,
        success -> Bool,
        reason -> Text,
        ip -> Text,
        user_agent -> Text,
        created_at -> Timestamp,
        location -> Nullable<Text>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        company_id -> BigInt,
        seq -> BigInt,
        actor_id -> Nullable<BigInt>,
        actor_username -> Text,
        action -> Text,
        target_type -> Text,
        target_id -> Nullable<BigInt>,
        target_label -> Text,
        summary -> Text,
        ip -> Text,
        created_at -> Timestamp,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    access_reviews (id) {
        id -> BigInt,
        company_id -> BigInt,
        started_by_id -> BigInt,
        due_on -> Date,
        status -> Text,
        created_at -> Timestamp,
        closed_by_id -> Nullable<BigInt>,
        closed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    access_review_lines (review_id, user_id) {
        review_id -> BigInt,
        user_id -> BigInt,
        company_id -> BigInt,
        username -> Text,
        display_name -> Text,
        role_name -> Text,
        permissions -> Text,
        channels -> Text,
        teams -> Text,
        last_sign_in_at -> Nullable<Timestamp>,
        dormant -> Bool,
        changes -> Text,
        decision -> Nullable<Text>,
        note -> Nullable<Text>,
        decided_by_id -> Nullable<BigInt>,
        decided_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(roles -> companies (company_id));
diesel::joinable!(role_permissions -> roles (role_id));
diesel::joinable!(users -> companies (company_id));
diesel::joinable!(users -> roles (role_id));
diesel::joinable!(channels -> companies (company_id));
diesel::joinable!(channel_members -> channels (channel_id));
diesel::joinable!(channel_members -> users (user_id));
diesel::joinable!(contacts -> companies (company_id));
diesel::joinable!(conversations -> channels (channel_id));
diesel::joinable!(conversations -> contacts (contact_id));
diesel::joinable!(conversations -> users (assignee_id));
diesel::joinable!(messages -> conversations (conversation_id));
diesel::joinable!(conversation_labels -> conversations (conversation_id));
diesel::joinable!(call_tasks -> channels (channel_id));
diesel::joinable!(call_tasks -> contacts (contact_id));
diesel::joinable!(call_tasks -> users (assignee_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(sessions -> companies (company_id));

diesel::table! {
    refusal_windows (id) {
        id -> BigInt,
        company_id -> BigInt,
        subject -> Text,
        label -> Text,
        kind -> Text,
        window_start -> Timestamp,
        refusals -> BigInt,
        summarized -> Bool,
    }
}

diesel::joinable!(refusal_windows -> companies (company_id));
diesel::joinable!(team_members -> teams (team_id));
diesel::joinable!(team_members -> users (user_id));
diesel::joinable!(label_roles -> labels (label_id));
diesel::joinable!(broadcasts -> channels (channel_id));
diesel::joinable!(label_roles -> roles (role_id));

diesel::table! {
    quick_replies (id) {
        id -> BigInt,
        company_id -> BigInt,
        owner_id -> Nullable<BigInt>,
        title -> Text,
        body -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    app_secrets,
    access_reviews,
    access_review_lines,
    companies,
    roles,
    role_permissions,
    users,
    channels,
    channel_members,
    contacts,
    conversations,
    conversation_labels,
    contact_reveals,
    messages,
    conversation_assignments,
    call_tasks,
    sessions,
    login_events,
    audit_events,
    refusal_windows,
    quick_replies,
    teams,
    team_members,
    labels,
    label_roles,
    message_templates,
    broadcasts,
    broadcast_deliveries,
    approval_requests,
    notifications,
    two_factor_recovery_codes,
    two_factor_challenges,
);
