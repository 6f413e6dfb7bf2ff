DROP INDEX call_tasks_company_time;
