-- The 15 counties since 1 January 2024 (official numbers and names), a career centre in each,
-- and the national team.

INSERT INTO counties (number, name, other_names) VALUES
    ('03', 'Oslo', '{}'),
    ('11', 'Rogaland', '{}'),
    ('15', 'Møre og Romsdal', '{}'),
    ('18', 'Nordland', '{Nordlánnda}'),
    ('31', 'Østfold', '{}'),
    ('32', 'Akershus', '{}'),
    ('33', 'Buskerud', '{}'),
    ('34', 'Innlandet', '{}'),
    ('39', 'Vestfold', '{}'),
    ('40', 'Telemark', '{}'),
    ('42', 'Agder', '{}'),
    ('46', 'Vestland', '{}'),
    ('50', 'Trøndelag', '{Trööndelage}'),
    ('55', 'Troms', '{Romsa,Tromssa}'),
    ('56', 'Finnmark', '{Finnmárku,Finmarkku}');

INSERT INTO centres (id, county_number, name)
SELECT number, number, 'Karrieresenteret i ' || name FROM counties;

INSERT INTO centres (id, county_number, name) VALUES ('national', NULL, 'Nasjonalt team');
