using System.IO.Compression;
using System.Text;
using System.Text.Json.Nodes;
using Xunit;

namespace OneDiff.Serving.Tests;

/// <summary>Bad requests, sent between good ones: each gets its 4xx and an error in OpenAI's shape,
/// and every good request beside them still gets its own caption.</summary>
[Collection(ServedModelCollection.Name)]
public class BadInputTests(ServedModel m)
{
    const string Key = "sk-onediff-test";

    [Fact]
    public async Task EachBadRequestGetsItsErrorAndTheGoodOnesTheirCaptions()
    {
        await using var server = await m.StartAsync(new ServingOptions { ApiKey = Key, MaxImageBytes = 64 << 10, MaxRequestBytes = 512 << 10, MaxImagePixels = 1 << 20 });
        using var http = new HttpClient();
        string url = server.Urls[0];
        var cancel = TestContext.Current.CancellationToken;
        var (a, b) = m.Images[0];
        var noise = new byte[200 << 10];
        new Random(3).NextBytes(noise);

        var cases = new (string Name, string Body, string? Key, int Status, string Code, string? Param)[]
        {
            ("not an image", ServedModel.Body(Encoding.UTF8.GetBytes("hello, not a picture"), b).ToJsonString(), Key, 400, "invalid_image", "messages[0].content[1].image_url.url"),
            ("one image", OneImage(a), Key, 400, "wrong_image_count", "messages[0].content"),
            ("three images", ServedModel.Body(a, b, extra: j => ((JsonArray)j["messages"]![0]!["content"]!).Add(ImagePart(a))).ToJsonString(), Key, 400, "wrong_image_count", "messages[0].content"),
            ("an image over the byte limit", ServedModel.Body(a, noise[..(100 << 10)]).ToJsonString(), Key, 413, "request_too_large", "messages[0].content[2].image_url.url"),
            ("a decompression bomb", ServedModel.Body(PixelBomb(40_000, 40_000), b).ToJsonString(), Key, 413, "request_too_large", "messages[0].content[1].image_url.url"),
            ("a body over the limit", ServedModel.Body(a, b, "x" + new string(' ', 600 << 10)).ToJsonString(), Key, 413, "request_too_large", null),
            ("malformed JSON", "{\"model\": \"tiny\", \"messages\": [", Key, 400, "invalid_json", null),
            ("no API key", m.Body(0).ToJsonString(), null, 401, "missing_api_key", null),
            ("a wrong API key", m.Body(0).ToJsonString(), "sk-wrong", 401, "invalid_api_key", null),
            ("a remote URL", ServedModel.Body(a, b, extra: j => j["messages"]![0]!["content"]![2]!["image_url"]!["url"] = "https://example.com/after.png").ToJsonString(), Key, 400, "remote_image_url", "messages[0].content[2].image_url.url"),
            ("an unknown model", m.Body(0, extra: j => j["model"] = "gpt-4o").ToJsonString(), Key, 404, "model_not_found", "model"),
            ("n above 1", m.Body(0, extra: j => j["n"] = 2).ToJsonString(), Key, 400, "unsupported_parameter", "n"),
            ("a temperature out of range", m.Body(0, extra: j => j["temperature"] = 7).ToJsonString(), Key, 400, "invalid_request", "temperature"),
            ("a system turn", m.Body(0, extra: j => ((JsonArray)j["messages"]!).Insert(0, new JsonObject { ["role"] = "system", ["content"] = "be brief" })).ToJsonString(), Key, 400, "invalid_request", "messages"),
        };

        var good = new List<(int Pair, Task<(int Status, JsonNode? Json, HttpResponseMessage Response)> Answer)>();
        foreach (var (name, body, key, status, code, param) in cases)
        {
            int pair = good.Count % m.Images.Count;
            good.Add((pair, ServedModel.PostAsync(http, url, m.Body(pair).ToJsonString(), Key, cancel)));
            var (got, json, response) = await ServedModel.PostAsync(http, url, body, key, cancel);
            Assert.True(got == status, $"{name}: {got}, expected {status}: {json}");
            Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
            var error = json!["error"] ?? throw new Xunit.Sdk.XunitException($"{name}: no 'error' in {json}");
            Assert.Equal(code, error["code"]!.GetValue<string>());
            Assert.False(string.IsNullOrWhiteSpace(error["message"]!.GetValue<string>()), name);
            Assert.False(string.IsNullOrWhiteSpace(error["type"]!.GetValue<string>()), name);
            Assert.Equal(param, error["param"]?.GetValue<string>());
            Assert.DoesNotContain("   at ", json.ToJsonString());
        }
        foreach (var (pair, answer) in good)
        {
            var (status, json, _) = await answer;
            Assert.Equal(200, status);
            Assert.Equal(m.Expected[pair], ServedModel.Content(json));
        }
        // The /v1 endpoints need the key; the page, health and metrics do not.
        Assert.Equal(401, (int)(await http.GetAsync(url + "/v1/models", cancel)).StatusCode);
        Assert.Equal(200, (int)(await http.GetAsync(url + "/health", cancel)).StatusCode);
    }

    static string OneImage(byte[] a) => new JsonObject
    {
        ["model"] = "tiny",
        ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = "" }, ImagePart(a)) }),
    }.ToJsonString();

    static JsonObject ImagePart(byte[] png) => new() { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = ServedModel.DataUrl(png) } };

    /// <summary>A few hundred bytes of PNG that declare a width x height grey image (1.6 GB of pixels
    /// at 40,000 x 40,000): refused from its header, never decoded.</summary>
    internal static byte[] PixelBomb(int width, int height)
    {
        using var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header, width);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8; // 8-bit grey; compression, filter, interlace 0
        Chunk(png, "IHDR", header);
        using var data = new MemoryStream();
        using (var z = new ZLibStream(data, CompressionLevel.SmallestSize, leaveOpen: true)) z.Write(new byte[(width + 1) * 4]);
        Chunk(png, "IDAT", data.ToArray());
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    static void Chunk(Stream s, string type, byte[] data)
    {
        var length = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(length, data.Length);
        s.Write(length);
        var typed = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        s.Write(typed);
        var crc = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32(typed));
        s.Write(crc);
    }

    static uint Crc32(byte[] bytes)
    {
        uint c = 0xFFFFFFFF;
        foreach (byte x in bytes)
        {
            c ^= x;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
        }
        return ~c;
    }
}
