-- A search of one or two characters has no trigram, so migration 10's indexes could answer it
-- only by reading every message. search_grams(text) is every character of a text and every
-- pair of neighbours; a GIN index of it over each searched column (lowered, as the search
-- compares) holds every piece such a search can ask for, and the search checks the rows it
-- finds with its LIKE, so the index only narrows.
CREATE FUNCTION search_grams(t text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    chars text[] := regexp_split_to_array(t, '');
    grams text[] := chars;
BEGIN
    IF t = '' THEN
        RETURN '{}';
    END IF;
    FOR i IN 1 .. cardinality(chars) - 1 LOOP
        grams := grams || (chars[i] || chars[i + 1]);
    END LOOP;
    RETURN grams;
END
$$;
CREATE INDEX messages_body_grams ON messages USING gin (search_grams(lower(body)));
CREATE INDEX messages_body_masked_grams ON messages USING gin (search_grams(lower(body_masked)));
CREATE INDEX contacts_name_grams ON contacts USING gin (search_grams(lower(name)));
CREATE INDEX contacts_name_masked_grams ON contacts USING gin (search_grams(lower(name_masked)));
-- Whether text holds a needle, both lowered: the grams narrow, strpos decides. A SQL function
-- the planner writes out in place, so the indexes above serve `search_holds(lower(body), …)`.
CREATE FUNCTION search_holds(haystack text, needle text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT search_grams(haystack) @> search_grams(needle) AND strpos(haystack, needle) > 0
$$;
