using System.Text.Json;
using System.Text.Json.Nodes;
using OneDiff.Modeling.Checkpoints;

namespace OneDiff.Modeling.Models.Llama;

/// <summary>
/// Sizes of a LLaMA-family decoder (Hugging Face <c>LlamaConfig</c> / <c>Qwen2Config</c>): Qwen2 is
/// the same network with biases on q/k/v and its own rotary base.
/// </summary>
public sealed record LlamaConfig(
    int VocabSize, int HiddenSize, int IntermediateSize, int NumHiddenLayers, int NumAttentionHeads, int NumKeyValueHeads,
    int HeadDim, double RmsNormEps, double RopeTheta, int MaxPositionEmbeddings,
    bool QkvBias, bool OutputBias, bool MlpBias, bool TieWordEmbeddings,
    int? BosTokenId, int? EosTokenId, int? PadTokenId, string HiddenAct = "silu", string ModelType = "llama")
{
    /// <summary>Vicuna-7B v1.5 (LLaMA-2 7B shapes).</summary>
    public static LlamaConfig Vicuna7B => new(32000, 4096, 11008, 32, 32, 32, 128, 1e-5, 10000, 4096,
        false, false, false, false, 1, 2, 0);

    /// <summary>Qwen2-7B (published shapes: GQA 28/4 heads, q/k/v biases, untied head).</summary>
    public static LlamaConfig Qwen2_7B => new(152064, 3584, 18944, 28, 28, 4, 128, 1e-6, 1_000_000, 131072,
        true, false, false, false, null, 151643, null, ModelType: "qwen2");

    public int KeyValueGroups => NumAttentionHeads / NumKeyValueHeads;

    /// <summary>The config.json of a Hugging Face folder with these sizes: what <see cref="FromHf"/>
    /// reads back to this config.</summary>
    public string ToHfJson() => new JsonObject
    {
        ["model_type"] = ModelType, ["vocab_size"] = VocabSize, ["hidden_size"] = HiddenSize, ["intermediate_size"] = IntermediateSize,
        ["num_hidden_layers"] = NumHiddenLayers, ["num_attention_heads"] = NumAttentionHeads, ["num_key_value_heads"] = NumKeyValueHeads,
        ["head_dim"] = HeadDim, ["rms_norm_eps"] = RmsNormEps, ["rope_theta"] = RopeTheta, ["max_position_embeddings"] = MaxPositionEmbeddings,
        // Qwen2 always has q/k/v biases; LLaMA's attention_bias puts one on o_proj too.
        ["attention_bias"] = ModelType != "qwen2" && QkvBias, ["mlp_bias"] = MlpBias, ["tie_word_embeddings"] = TieWordEmbeddings,
        ["bos_token_id"] = BosTokenId, ["eos_token_id"] = EosTokenId, ["pad_token_id"] = PadTokenId, ["hidden_act"] = HiddenAct,
    }.ToJsonString(new JsonSerializerOptions { WriteIndented = true });

    public static LlamaConfig FromHf(HfConfig c)
    {
        string type = c.ModelType;
        if (type is not ("llama" or "qwen2" or "mistral"))
            throw new NotSupportedException($"{c.Source}: model_type '{type}' is not a LLaMA-family decoder");
        int hidden = c.GetInt("hidden_size"), heads = c.GetInt("num_attention_heads");
        double theta = c.TrySection("rope_parameters") is { } rope ? rope.GetDouble("rope_theta", 10000) : c.GetDouble("rope_theta", 10000);
        bool qwen = type == "qwen2";
        bool attentionBias = c.GetBool("attention_bias", false);
        return new LlamaConfig(
            c.GetInt("vocab_size"), hidden, c.GetInt("intermediate_size"), c.GetInt("num_hidden_layers"), heads,
            c.GetInt("num_key_value_heads", heads), c.Has("head_dim") ? c.GetInt("head_dim") : hidden / heads,
            c.GetDouble("rms_norm_eps", 1e-6), theta, c.GetInt("max_position_embeddings", 4096),
            QkvBias: qwen || attentionBias, OutputBias: !qwen && attentionBias, MlpBias: c.GetBool("mlp_bias", false),
            TieWordEmbeddings: c.GetBool("tie_word_embeddings", false),
            c.GetIntOrNull("bos_token_id"), c.GetIntOrNull("eos_token_id"), c.GetIntOrNull("pad_token_id"),
            c.GetString("hidden_act", "silu"), type);
    }
}
