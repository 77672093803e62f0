<?php
// PHP's own http_build_query and parse_str for tests/receiver/php.py: one JSON request per
// line on stdin, one JSON answer per line on stdout, for as long as stdin stays open.
//
//   {"build": <value>}     → {"body": <base64 of http_build_query(value)>, "read": <R>,
//                             "warnings": [...]}, R being what parse_str reads from that body
//   {"parse": "<base64>"}  → {"read": <R>, "warnings": [...]}, parse_str of those bytes
//
// R keeps everything json_encode would lose: a string is the base64 of its bytes; an array
// is {"array": [[key, R], ...]} in PHP's order, an integer key a JSON number and a string
// key the base64 of its bytes. "warnings" are the messages PHP raised while parsing
// (max_input_vars, max_input_nesting_level).
declare(strict_types=1);

function tagged(mixed $value): mixed
{
    if (is_array($value)) {
        $pairs = [];
        foreach ($value as $key => $child) {
            $pairs[] = [is_int($key) ? $key : base64_encode($key), tagged($child)];
        }
        return ['array' => $pairs];
    }
    return base64_encode((string) $value);
}

function read_body(string $body): array
{
    $warnings = [];
    set_error_handler(function (int $level, string $message) use (&$warnings): bool {
        $warnings[] = $message;
        return true;
    });
    try {
        parse_str($body, $read);
    } finally {
        restore_error_handler();
    }
    return ['read' => tagged($read), 'warnings' => $warnings];
}

while (($line = fgets(STDIN)) !== false) {
    try {
        $request = json_decode($line, true, 512, JSON_THROW_ON_ERROR);
        if (array_key_exists('build', $request)) {
            $body = http_build_query($request['build']);
            $answer = ['body' => base64_encode($body)] + read_body($body);
        } elseif (array_key_exists('parse', $request)) {
            $answer = read_body(base64_decode($request['parse'], true));
        } else {
            $answer = ['error' => 'a request has "build" or "parse"'];
        }
    } catch (Throwable $error) {
        $answer = ['error' => get_class($error) . ': ' . $error->getMessage()];
    }
    fwrite(STDOUT, json_encode($answer, JSON_THROW_ON_ERROR) . "\n");
    fflush(STDOUT);
}
