using System.Text.Json;
using System.Text.Json.Serialization;

namespace OneDiff.Serving.Protocol;

/// <summary>OpenAI's JSON: snake_case names.</summary>
internal static class Json
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        // Messages quote names ('x'): kept readable rather than \u0027-escaped (the body is JSON, not HTML).
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}
