DROP INDEX contacts_company_recent;
