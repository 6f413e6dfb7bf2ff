-- Critical permissions: the company's list of permissions that must always have an active
-- holder (an action that would leave one without is refused) and should have two (the
-- supervisors are warned). Keys joined with ','.
ALTER TABLE companies ADD COLUMN critical_permissions TEXT NOT NULL
    DEFAULT 'users.manage,roles.manage,channels.assign,settings.manage,reports.view,sessions.manage';

-- Dormant accounts (no sign-in for dormant_after_days) can be deactivated automatically, by
-- the system, unless that would leave a critical permission or the company without a holder.
ALTER TABLE companies ADD COLUMN deactivate_dormant BOOLEAN NOT NULL DEFAULT 0;
