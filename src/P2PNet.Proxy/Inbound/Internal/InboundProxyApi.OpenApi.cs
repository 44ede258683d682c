using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace P2PNet.Proxy.Inbound.Internal;

internal sealed partial class InboundProxyApi
{
    private static readonly Lazy<byte[]> OpenApiDocument = new(BuildOpenApi);

    private static async Task WriteOpenApiAsync(HttpContext context)
    {
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json; charset=utf-8";
        await context.Response.Body.WriteAsync(OpenApiDocument.Value, context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>The OpenAPI 3.0 document, written from <see cref="Routes"/> so that it cannot drift from what is served.</summary>
    internal static byte[] BuildOpenApi()
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("openapi", "3.0.3");
            json.WriteStartObject("info");
            json.WriteString("title", "P2PNet inbound proxy management API");
            json.WriteString("version", "v1");
            json.WriteString("description", "Probe, Gateway and Status APIs of the inbound network proxy: public TCP/UDP sockets forwarded into a VPN.");
            json.WriteEndObject();
            json.WriteStartArray("security");
            json.WriteStartObject();
            json.WriteStartArray("bearer");
            json.WriteEndArray();
            json.WriteEndObject();
            json.WriteEndArray();
            json.WriteStartObject("paths");
            foreach (var group in Routes.GroupBy(r => r.Pattern))
            {
                json.WriteStartObject(group.Key);
                foreach (var route in group)
                {
                    WriteOperation(json, route);
                }
                json.WriteEndObject();
            }
            json.WriteEndObject();
            WriteComponents(json);
            json.WriteEndObject();
        }
        return stream.ToArray();
    }

    private static void WriteOperation(Utf8JsonWriter json, InboundApiRoute route)
    {
        json.WriteStartObject(route.Method.ToLowerInvariant());
        json.WriteString("summary", route.Summary);
        json.WriteString("operationId", OperationId(route));
        if (route.Public)
        {
            json.WriteStartArray("security");
            json.WriteEndArray();
        }
        var parameters = route.Pattern.Split('/').Where(s => s.StartsWith('{')).Select(s => s[1..^1]).ToList();
        if (parameters.Count > 0)
        {
            json.WriteStartArray("parameters");
            foreach (string name in parameters)
            {
                json.WriteStartObject();
                json.WriteString("name", name);
                json.WriteString("in", "path");
                json.WriteBoolean("required", true);
                json.WriteString("description", name switch
                {
                    "proto" => "tcp or udp",
                    "addr" => "IP:PORT, an IPv6 address in brackets, URL-encoded",
                    "requestorId" => "the RequestorId",
                    "token" => "the Token",
                    "activityId" => "the ActivityId of a gateway socket's Entry",
                    _ => "a VPN the proxy is a member of",
                });
                json.WriteStartObject("schema");
                json.WriteString("type", "string");
                if (name == "proto")
                {
                    json.WriteStartArray("enum");
                    json.WriteStringValue("tcp");
                    json.WriteStringValue("udp");
                    json.WriteEndArray();
                }
                json.WriteEndObject();
                json.WriteEndObject();
            }
            json.WriteEndArray();
        }
        if (route.RequestSchema is { } request)
        {
            json.WriteStartObject("requestBody");
            json.WriteBoolean("required", true);
            WriteContent(json, "application/json", request);
            json.WriteEndObject();
        }
        json.WriteStartObject("responses");
        json.WriteStartObject(route.SuccessStatus.ToString(System.Globalization.CultureInfo.InvariantCulture));
        json.WriteString("description", route.SuccessStatus switch { 201 => "Created", 204 => "Done", _ => "OK" });
        if (route.ResponseSchema is { } response)
        {
            WriteContent(json, "application/json", response);
        }
        json.WriteEndObject();
        if (!route.Public)
        {
            var errors = new List<(string, string)> { ("400", "Bad input; the problem names the field"), ("401", "Missing or wrong bearer token") };
            if (parameters.Count > 0)
            {
                errors.Add(("404", "No such socket, probe, activity or VPN"));
            }
            if (route.Method is "PUT" or "POST")
            {
                errors.Add(("409", "The address holds a conflicting socket, cannot be bound, or a limit is reached"));
            }
            foreach (var (status, description) in errors)
            {
                json.WriteStartObject(status);
                json.WriteString("description", description);
                WriteContent(json, "application/problem+json", "Problem");
                json.WriteEndObject();
            }
        }
        json.WriteEndObject();
        json.WriteEndObject();
    }

    private static string OperationId(InboundApiRoute route)
    {
        var id = new StringBuilder(route.Method.ToLowerInvariant());
        foreach (string part in route.Pattern.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            string word = part.Trim('{', '}').Replace("-api", "", StringComparison.Ordinal).Replace(".json", "", StringComparison.Ordinal);
            if (word.Length > 0 && word != "v1")
            {
                id.Append(char.ToUpperInvariant(word[0])).Append(word.AsSpan(1));
            }
        }
        return id.ToString();
    }

    private static void WriteContent(Utf8JsonWriter json, string mediaType, string schema)
    {
        json.WriteStartObject("content");
        json.WriteStartObject(mediaType);
        json.WriteStartObject("schema");
        json.WriteString("$ref", "#/components/schemas/" + schema);
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteEndObject();
    }

    private static void WriteComponents(Utf8JsonWriter json)
    {
        json.WriteStartObject("components");
        json.WriteStartObject("securitySchemes");
        json.WriteStartObject("bearer");
        json.WriteString("type", "http");
        json.WriteString("scheme", "bearer");
        json.WriteString("description", "Only when the proxy was given a token.");
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteStartObject("schemas");
        WriteObject(json, "Probe", ("RequestorId", "string"), ("Token", "string"));
        WriteArray(json, "Probes", "Probe");
        WriteObject(json, "ProbeSocket", ("Protocol", "string"), ("Address", "string"), ("Probes", "#Probes"));
        WriteArray(json, "ProbeSockets", "ProbeSocket");
        WriteObject(json, "Token", null);
        WriteObject(json, "Entry", ("RequestorId", "string"), ("ActivityId", "string"), ("VpnId", "string"), ("RemoteId", "string"),
            ("RemoteAddr", "string"));
        json.WriteStartObject("Gateways");
        json.WriteString("type", "object");
        json.WriteString("description", "Entries keyed proto/addr, e.g. tcp/0.0.0.0:8080.");
        json.WriteStartObject("additionalProperties");
        json.WriteString("$ref", "#/components/schemas/Entry");
        json.WriteEndObject();
        json.WriteEndObject();
        WriteObject(json, "Vpn", ("VpnId", "string"), ("Address", "string"));
        WriteObject(json, "Status", ("ProbeSockets", "integer"), ("GatewaySockets", "integer"), ("ActivitiesServed", "integer"),
            ("UptimeSeconds", "number"), ("Vpns", "[Vpn"));
        WriteObject(json, "Rate", ("Max", "number"), ("Average", "number"), ("Current", "number"));
        WriteObject(json, "Bandwidth", ("BytesReceived", "integer"), ("BytesSent", "integer"), ("RateIn", "#Rate"), ("RateOut", "#Rate"));
        WriteObject(json, "ConnectionCounts", ("Active", "integer"), ("Accepted", "integer"), ("Refused", "integer"), ("Failed", "integer"),
            ("RateLimited", "integer"));
        WriteObject(json, "Connection", ("Protocol", "string"), ("Gateway", "string"), ("Client", "string"), ("Bandwidth", "#Bandwidth"));
        WriteObject(json, "Metrics", ("Bandwidth", "#Bandwidth"), ("Connections", "#ConnectionCounts"), ("Open", "[Connection"));
        WriteObject(json, "Problem", ("type", "string"), ("title", "string"), ("status", "integer"), ("detail", "string"), ("field", "string"));
        json.WriteEndObject();
        json.WriteEndObject();
    }

    /// <summary>An object schema; a property type <c>#X</c> refers to schema X, <c>[X</c> is an array of X. No properties: a string.</summary>
    private static void WriteObject(Utf8JsonWriter json, string name, params (string Name, string Type)[]? properties)
    {
        json.WriteStartObject(name);
        if (properties is null)
        {
            json.WriteString("type", "string");
            json.WriteEndObject();
            return;
        }
        json.WriteString("type", "object");
        json.WriteStartObject("properties");
        foreach (var (property, type) in properties)
        {
            json.WriteStartObject(property);
            if (type.StartsWith('#'))
            {
                json.WriteString("$ref", "#/components/schemas/" + type[1..]);
            }
            else if (type.StartsWith('['))
            {
                json.WriteString("type", "array");
                json.WriteStartObject("items");
                json.WriteString("$ref", "#/components/schemas/" + type[1..]);
                json.WriteEndObject();
            }
            else
            {
                json.WriteString("type", type);
            }
            json.WriteEndObject();
        }
        json.WriteEndObject();
        json.WriteEndObject();
    }

    private static void WriteArray(Utf8JsonWriter json, string name, string item)
    {
        json.WriteStartObject(name);
        json.WriteString("type", "array");
        json.WriteStartObject("items");
        json.WriteString("$ref", "#/components/schemas/" + item);
        json.WriteEndObject();
        json.WriteEndObject();
    }
}
