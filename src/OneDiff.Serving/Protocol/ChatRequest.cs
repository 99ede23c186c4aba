using System.Text.Json;

namespace OneDiff.Serving.Protocol;

/// <summary>One image of a request: its bytes from a <c>data:</c> URL, and where it was in the JSON.</summary>
public sealed record RequestImage(byte[] Bytes, string MediaType, string Param);

/// <summary>
/// A <c>POST /v1/chat/completions</c> body as this server reads it: one user message with a text
/// part (the task prompt; empty: the model's) and exactly two <c>image_url</c> parts given as
/// <c>data:</c> URLs; OpenAI's sampling fields; <c>num_beams</c> as an extension. Every refusal
/// is an <see cref="ApiError"/> naming the field.
/// </summary>
public sealed record ChatRequest
{
    public required string Model { get; init; }
    public string? Prompt { get; init; }
    public required RequestImage Before { get; init; }
    public required RequestImage After { get; init; }
    public int? MaxTokens { get; init; }
    /// <summary>0 (the default here, unlike OpenAI's 1): greedy, the caption the model was trained to give.</summary>
    public double Temperature { get; init; }
    public double TopP { get; init; } = 1;
    public long? Seed { get; init; }
    public IReadOnlyList<string> Stop { get; init; } = [];
    public bool Stream { get; init; }
    public bool IncludeUsage { get; init; }
    public int? NumBeams { get; init; }
    /// <summary>The extension <c>change_map</c>: true (the default method), "gradient" or
    /// "attention" asks for where the model saw the change beside the caption.</summary>
    public OneDiff.Modeling.Models.OneDiff.ChangeMapMethod? ChangeMap { get; init; }

    /// <summary>Fields of OpenAI's API this server cannot honour: refused rather than ignored.</summary>
    static readonly string[] Unsupported = ["tools", "functions", "tool_choice", "function_call", "response_format", "logit_bias", "audio", "prediction"];

    public static ChatRequest Read(JsonElement root, ServingOptions limits)
    {
        if (root.ValueKind != JsonValueKind.Object) throw ApiError.BadRequest("the request body must be a JSON object");
        foreach (var name in Unsupported)
            if (root.TryGetProperty(name, out var v) && v.ValueKind is not JsonValueKind.Null)
                throw ApiError.BadRequest($"'{name}' is not supported by this model (it writes image-difference captions)", name, "unsupported_parameter");
        if (root.TryGetProperty("logprobs", out var lp) && lp.ValueKind == JsonValueKind.True)
            throw ApiError.BadRequest("'logprobs' is not supported", "logprobs", "unsupported_parameter");
        if (Integer(root, "n", 1, 1_000_000) is { } n && n != 1)
            throw ApiError.BadRequest($"n = {n}: this server returns one caption per request; send {n} requests (with different seeds) instead", "n", "unsupported_parameter");

        string model = root.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()! : throw ApiError.BadRequest("'model' is required (a string; GET /v1/models lists it)", "model");
        var (prompt, before, after) = ReadMessages(root, limits);
        int? maxTokens = Integer(root, "max_completion_tokens", 0, limits.MaxTokensLimit) ?? Integer(root, "max_tokens", 0, limits.MaxTokensLimit);
        double temperature = Number(root, "temperature", 0, 2) ?? 0;
        double topP = Number(root, "top_p", 0, 1) ?? 1;
        if (topP == 0) throw ApiError.BadRequest("top_p must be above 0", "top_p");
        int? beams = Integer(root, "num_beams", 1, 16);
        if (beams > 1 && temperature > 0) throw ApiError.BadRequest("num_beams > 1 is beam search: it does not sample; leave temperature at 0", "num_beams");
        bool stream = Bool(root, "stream") ?? false;
        bool includeUsage = root.TryGetProperty("stream_options", out var so) && so.ValueKind == JsonValueKind.Object && (Bool(so, "include_usage") ?? false);
        return new ChatRequest
        {
            Model = model, Prompt = prompt, Before = before, After = after, MaxTokens = maxTokens, Temperature = temperature, TopP = topP,
            Seed = root.TryGetProperty("seed", out var s) && s.ValueKind != JsonValueKind.Null ? (s.TryGetInt64(out long seed) ? seed : throw ApiError.BadRequest("seed must be an integer", "seed")) : null,
            Stop = ReadStop(root), Stream = stream, IncludeUsage = includeUsage, NumBeams = beams, ChangeMap = ReadChangeMap(root),
        };
    }

    static (string? Prompt, RequestImage Before, RequestImage After) ReadMessages(JsonElement root, ServingOptions limits)
    {
        if (!root.TryGetProperty("messages", out var messages) || messages.ValueKind != JsonValueKind.Array || messages.GetArrayLength() == 0)
            throw ApiError.BadRequest("'messages' is required: one user message with a text part and two image_url parts", "messages");
        if (messages.GetArrayLength() != 1 || !(messages[0].TryGetProperty("role", out var role) && role.GetString() == "user"))
            throw ApiError.BadRequest("give exactly one message, from the user (its text is the task prompt, its two images the pair); other roles and earlier turns are not used by this model", "messages");
        var message = messages[0];
        if (!message.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.Array)
            throw ApiError.BadRequest("the user message's content must be a list of parts: a text part and two image_url parts", "messages[0].content");
        var text = new List<string>();
        var images = new List<RequestImage>();
        int index = 0;
        foreach (var part in content.EnumerateArray())
        {
            string param = $"messages[0].content[{index++}]";
            string? type = part.ValueKind == JsonValueKind.Object && part.TryGetProperty("type", out var t) ? t.GetString() : null;
            switch (type)
            {
                case "text":
                    text.Add(part.TryGetProperty("text", out var tx) && tx.ValueKind == JsonValueKind.String ? tx.GetString()! : throw ApiError.BadRequest("a text part needs 'text'", param + ".text"));
                    break;
                case "image_url":
                    var url = part.TryGetProperty("image_url", out var iu) ? iu.ValueKind == JsonValueKind.String ? iu : iu.ValueKind == JsonValueKind.Object && iu.TryGetProperty("url", out var u) ? u : default : default;
                    if (url.ValueKind != JsonValueKind.String) throw ApiError.BadRequest("an image_url part needs 'image_url': {\"url\": \"data:image/png;base64,...\"}", param + ".image_url");
                    images.Add(DataUrl.Read(url.GetString()!, param + ".image_url.url", limits.MaxImageBytes));
                    break;
                default:
                    throw ApiError.BadRequest($"unsupported content part type '{type}': use 'text' and 'image_url'", param + ".type");
            }
        }
        if (images.Count != 2)
            throw ApiError.BadRequest($"the message has {images.Count} image(s): this model compares exactly two (before, then after)", "messages[0].content", "wrong_image_count");
        string prompt = string.Join("\n", text).Trim();
        return (prompt.Length == 0 ? null : prompt, images[0], images[1]);
    }

    static IReadOnlyList<string> ReadStop(JsonElement root)
    {
        if (!root.TryGetProperty("stop", out var stop) || stop.ValueKind == JsonValueKind.Null) return [];
        var list = stop.ValueKind == JsonValueKind.String ? [stop.GetString()!]
            : stop.ValueKind == JsonValueKind.Array && stop.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String) ? stop.EnumerateArray().Select(e => e.GetString()!).ToList()
            : throw ApiError.BadRequest("stop must be a string or a list of strings", "stop");
        if (list.Count > 4) throw ApiError.BadRequest("at most 4 stop sequences", "stop");
        if (list.Any(s => s.Length == 0)) throw ApiError.BadRequest("a stop sequence is empty", "stop");
        return list;
    }

    static OneDiff.Modeling.Models.OneDiff.ChangeMapMethod? ReadChangeMap(JsonElement root)
    {
        if (!root.TryGetProperty("change_map", out var v)) return null;
        return v.ValueKind switch
        {
            JsonValueKind.Null or JsonValueKind.False => null,
            JsonValueKind.True => OneDiff.Modeling.Models.OneDiff.ChangeMapMethod.GradientTimesInput,
            JsonValueKind.String when v.GetString() == "gradient" => OneDiff.Modeling.Models.OneDiff.ChangeMapMethod.GradientTimesInput,
            JsonValueKind.String when v.GetString() == "attention" => OneDiff.Modeling.Models.OneDiff.ChangeMapMethod.DeltaAttention,
            _ => throw ApiError.BadRequest("change_map must be true, false, \"gradient\" or \"attention\"", "change_map"),
        };
    }

    static int? Integer(JsonElement root, string name, int min, int max)
    {
        if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out long x)) throw ApiError.BadRequest($"{name} must be an integer", name);
        if (x < min || x > max) throw ApiError.BadRequest($"{name} = {x} is out of range [{min}, {max}]", name);
        return (int)x;
    }

    static double? Number(JsonElement root, string name, double min, double max)
    {
        if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Number) throw ApiError.BadRequest($"{name} must be a number", name);
        double x = v.GetDouble();
        if (x < min || x > max) throw ApiError.BadRequest($"{name} = {x} is out of range [{min}, {max}]", name);
        return x;
    }

    static bool? Bool(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind switch { JsonValueKind.True => true, JsonValueKind.False => false, _ => throw ApiError.BadRequest($"{name} must be true or false", name) };
    }
}
