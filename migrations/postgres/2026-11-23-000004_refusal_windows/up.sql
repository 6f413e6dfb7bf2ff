-- Repeated refusals (a probe looping on a forbidden page, an address hammering sign-in) are
-- counted here per subject, kind and ten-minute window: the first is recorded in the activity
-- log at once, the rest as one summary record when the window closes.
CREATE TABLE refusal_windows (
    id BIGSERIAL PRIMARY KEY,
    company_id BIGINT NOT NULL REFERENCES companies(id),
    -- who was refused: 'user:<id>' or 'address:<ip>'
    subject TEXT NOT NULL,
    -- how the subject is named in the summary (a username, an address)
    label TEXT NOT NULL,
    kind TEXT NOT NULL,
    window_start TIMESTAMP NOT NULL,
    refusals BIGINT NOT NULL,
    summarized BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX refusal_windows_one ON refusal_windows (company_id, subject, kind, window_start);
CREATE INDEX refusal_windows_open ON refusal_windows (summarized, window_start);
