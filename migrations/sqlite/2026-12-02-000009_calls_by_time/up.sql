-- /calls lists a company's call tasks newest first by when they came in.
CREATE INDEX call_tasks_company_time ON call_tasks (company_id, created_at DESC, id DESC);
