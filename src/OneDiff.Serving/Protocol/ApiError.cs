using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace OneDiff.Serving.Protocol;

/// <summary>
/// A request the server refuses, answered in OpenAI's error shape
/// <c>{"error": {"message", "type", "param", "code"}}</c> with its HTTP status; the message says
/// what was wrong and never carries a stack trace.
/// </summary>
public sealed class ApiError(int status, string type, string code, string message, string? param = null) : Exception(message)
{
    public int Status { get; } = status;
    public string Type { get; } = type;
    public string Code { get; } = code;
    public string? Param { get; } = param;
    /// <summary>Seconds for a Retry-After header (429, 503).</summary>
    public int? RetryAfterSeconds { get; init; }

    public static ApiError BadRequest(string message, string? param = null, string code = "invalid_request") => new(400, "invalid_request_error", code, message, param);
    public static ApiError TooLarge(string message, string? param = null) => new(413, "invalid_request_error", "request_too_large", message, param);

    public object Body => new { error = new { message = Message, type = Type, param = Param, code = Code } };

    public async Task WriteAsync(HttpResponse response)
    {
        response.StatusCode = Status;
        if (RetryAfterSeconds is { } seconds) response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (Status == 401) response.Headers.WWWAuthenticate = "Bearer";
        response.ContentType = "application/json";
        await response.WriteAsync(JsonSerializer.Serialize(Body, Json.Options));
    }
}
